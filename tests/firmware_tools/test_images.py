"""`borderlink firmware keygen | build | sign | verify | inspect`: images built from the real
firmware (mpy-cross) and a wheel, signed as COSE_Sign1 by a firmware key, and every refusal a
device makes — tampered file, tampered manifest, extra file, unsigned, wrong key, wrong target,
a node's record passed off as a manifest signature.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import cbor2
import pytest

from borderlink.cli import main
from borderlink.firmware_tools.manifest import VENDOR_ID, Image, class_id, verify_image
from borderlink.proto.cose import sign1
from borderlink.proto.keys import SigningKey

from .upy import T0, node_config, run_node


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["firmware", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fw_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    key = tmp_path / "keys" / "firmware.pem"
    key.parent.mkdir()
    code, out, _ = cli(capsys, "keygen", "--out", str(key))
    assert code == 0 and json.loads(out)["public_key"] == (key.parent / "firmware.pem.pub") \
        .read_text().strip()
    return key


@pytest.fixture
def sensor_image(tmp_path: Path, fw_key: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    config = tmp_path / "ugs_config.json"
    config.write_text(json.dumps(node_config()))
    image = tmp_path / "node.blfw"
    code, out, err = cli(capsys, "build", "--target", "sensor-node", "--config", str(config),
                         "--version", "1.2.0", "--sequence", "7", "--min-version", "1.0.0",
                         "--out", str(image))
    assert code == 0, err
    code, _, err = cli(capsys, "sign", "--key", str(fw_key), str(image))
    assert code == 0, err
    return image


def pub(fw_key: Path) -> str:
    return str(fw_key.with_name(fw_key.name + ".pub"))


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
        fw_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert stat.S_IMODE(fw_key.stat().st_mode) == 0o600
    before = fw_key.read_bytes()
    code, _, err = cli(capsys, "keygen", "--out", str(fw_key))
    assert code == 1 and "never overwritten" in err and fw_key.read_bytes() == before


def test_sensor_node_image_verifies_inspects_and_runs_on_the_unix_port(
        sensor_image: Path, fw_key: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "verify", "--public-key", pub(fw_key), "--target",
                         "sensor-node", str(sensor_image))
    assert code == 0, err
    assert json.loads(out)["sequence"] == 7
    code, out, _ = cli(capsys, "inspect", str(sensor_image))
    manifest = json.loads(out)
    assert manifest["component"] == "ugs-firmware" and manifest["signed"] is True
    assert (manifest["vendor-id"], manifest["class-id"]) == (VENDOR_ID.bytes.hex(),
                                                              class_id("sensor-node").hex())
    assert (manifest["version"], manifest["min-version"]) == ("1.2.0", "1.0.0")
    names = [f["name"] for f in manifest["files"]]
    assert "main.py" in names and "ugs_node.mpy" in names and "ugs_node.py" not in names
    image = Image.decode(sensor_image.read_bytes())
    assert manifest["size"] == sum(len(b) for b in image.files.values())
    # the image's files are a working node: lay them out as flash and run them
    flash = tmp_path / "flash"
    flash.mkdir()
    for name, data in image.files.items():
        (flash / name).write_bytes(data)
    result = run_node(flash, f"{T0} {node_config()['sensors'][0]['id']} 300\n", heap="24k")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(b"\xb5\x4e\x01\x01") >= 5  # 4 boot frames, one detection


def _rewrite(path: Path, **changes: object) -> None:
    data = cbor2.loads(path.read_bytes())
    data.update(changes)
    path.write_bytes(cbor2.dumps(data, canonical=True))


def test_every_refusal_a_device_makes(sensor_image: Path, fw_key: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    def refused(path: Path, why: str, *extra: str) -> None:
        code, _, err = cli(capsys, "verify", "--public-key", pub(fw_key), *extra, str(path))
        assert code == 1 and "REFUSED" in err and why in err, err

    good = Image.decode(sensor_image.read_bytes())
    bad = tmp_path / "bad.blfw"

    files = dict(good.files)
    files["ugs_frame.mpy"] = files["ugs_frame.mpy"][:-1] + bytes([files["ugs_frame.mpy"][-1] ^ 1])
    bad.write_bytes(Image(good.manifest_bytes, good.envelope, files).encode())
    refused(bad, "tampered")

    bad.write_bytes(Image(good.manifest_bytes, good.envelope,
                          {**good.files, "boot.py": b"import os"}).encode())
    refused(bad, "differ from the manifest")

    manifest = cbor2.loads(good.manifest_bytes)
    manifest["sequence"] = 99
    bad.write_bytes(Image(cbor2.dumps(manifest, canonical=True), good.envelope,
                          good.files).encode())
    refused(bad, "other manifest bytes")

    bad.write_bytes(Image(good.manifest_bytes, None, good.files).encode())
    refused(bad, "not signed")

    other = SigningKey.generate()
    refused(sensor_image, "", "--public-key", other.public_hex)  # last --public-key wins

    refused(sensor_image, "not 'edge-agent'", "--target", "edge-agent")

    # a node key's ordinary COSE_Sign1 over the same bytes: no firmware content type
    node = SigningKey.generate()
    bad.write_bytes(Image(good.manifest_bytes, sign1(good.manifest_bytes, node),
                          good.files).encode())
    code, _, err = cli(capsys, "verify", "--public-key", node.public_hex, str(bad))
    assert code == 1 and "not a firmware manifest signature" in err

    bad.write_bytes(b"\xa1\x61x\x01")
    code, _, err = cli(capsys, "verify", "--public-key", pub(fw_key), str(bad))
    assert code == 1 and "not a firmware image" in err


def test_edge_agent_image_pins_its_dependencies(tmp_path: Path, fw_key: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    wheel = tmp_path / "borderlink-0.3.0-py3-none-any.whl"
    wheel.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: the image does not unpack it
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("cbor2>=6.0\n")
    out = tmp_path / "edge.blfw"
    args = ["build", "--target", "edge-agent", "--wheel", str(wheel), "--requirements",
            str(reqs), "--version", "0.3.0", "--sequence", "3", "--out", str(out)]
    code, _, err = cli(capsys, *args)
    assert code == 1 and "not pinned" in err and not out.exists()
    reqs.write_text("# pinned\ncbor2==6.0.1\npsycopg[binary]==3.2.1\n")
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    code, _, err = cli(capsys, "sign", "--key", str(fw_key), str(out))
    assert code == 0, err
    image = Image.decode(out.read_bytes())
    manifest = verify_image(image, bytes.fromhex(Path(pub(fw_key)).read_text()),
                            target="edge-agent")
    assert manifest.component == "borderlink" and manifest.version == "0.3.0"
    assert dict(manifest.extra) == {"config-schema": 1, "wheel": wheel.name}
    assert image.files["requirements.txt"] == b"cbor2==6.0.1\npsycopg[binary]==3.2.1\n"
    code, _, err = cli(capsys, *args[:-4], "--version", "0.4.0", "--sequence", "3",
                       "--out", str(out))
    assert code == 1 and "not 0.4.0" in err


def test_build_refuses_a_node_config_without_keys(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = node_config()
    config["sensors"][1]["key"] = "abcd"
    path = tmp_path / "ugs_config.json"
    path.write_text(json.dumps(config))
    code, _, err = cli(capsys, "build", "--target", "sensor-node", "--config", str(path),
                       "--version", "1.0.0", "--sequence", "1", "--out", str(tmp_path / "x"))
    assert code == 1 and "sensors[1].key must be 64 hex digits" in err
