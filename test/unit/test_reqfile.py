"""requirements.txt as pip reads it: options, includes, continuations, markers, URLs."""
from __future__ import annotations

import pytest

from nbs2i import reqfile
from nbs2i.errors import RequirementsError

PIPENV_LOCK_R = """-i https://pypi.org/simple
--extra-index-url https://mirror.example/simple
-r base.txt
-c constraints.txt
certifi==2024.8.30 ; python_version >= '3.6'
requests==2.32.3; python_version >= "3.8" \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
six==1.16.0  # from the lock
# a comment line
--trusted-host mirror.example
"""


def test_pipenv_lock_output_is_read(tmp_path):
    (tmp_path / "base.txt").write_text("tabulate>=0.9\n")
    (tmp_path / "constraints.txt").write_text("urllib3<3\n")
    (tmp_path / "requirements.txt").write_text(PIPENV_LOCK_R)
    found = reqfile.read(tmp_path / "requirements.txt")
    assert [r.text for r in found.requirements] == [
        "tabulate>=0.9", 'certifi==2024.8.30; python_version >= "3.6"', 'requests==2.32.3; python_version >= "3.8"',
        "six==1.16.0"]
    assert [r.origin for r in found.requirements] == ["base.txt line 1", "requirements.txt line 5",
                                                      "requirements.txt line 6", "requirements.txt line 9"]
    assert [r.text for r in found.constraints] == ["urllib3<3"]
    assert found.indexes.index_url == "https://pypi.org/simple"
    assert found.indexes.extra_index_urls == ["https://mirror.example/simple"]
    assert found.indexes.origin == "requirements.txt line 1"


def test_urls_paths_and_editables_pass_through(tmp_path, monkeypatch):
    monkeypatch.setenv("NBS2I_TEST_TOKEN", "s3cret")
    (tmp_path / "requirements.txt").write_text(
        "-e ./localpkg\ngit+https://example.invalid/org/repo.git@v1#egg=repo\n./wheels/x-1.0-py3-none-any.whl\n"
        "private==1.0 --config-settings editable_mode=compat\nhttps://${NBS2I_TEST_TOKEN}@example.invalid/a.whl\n")
    found = reqfile.read(tmp_path / "requirements.txt").requirements
    assert [r.text for r in found] == [
        f"-e {tmp_path / 'localpkg'}", "git+https://example.invalid/org/repo.git@v1#egg=repo",
        str(tmp_path / "wheels" / "x-1.0-py3-none-any.whl"), "private==1.0", "https://s3cret@example.invalid/a.whl"]
    assert [r.url for r in found] == [True, True, True, False, True]
    assert found[1].name == "repo"


@pytest.mark.parametrize("line, message", [
    ("--user", "requirements.txt line 1: pip's option --user is not supported"),
    ("-r https://example.invalid/req.txt", "including https://example.invalid/req.txt over the network"),
    ("numpy=>1", "requirements.txt line 1: 'numpy=>1' is not a valid requirement"),
])
def test_what_cannot_be_read_says_where(tmp_path, line, message):
    (tmp_path / "requirements.txt").write_text(line + "\n")
    with pytest.raises(RequirementsError, match=message):
        reqfile.read(tmp_path / "requirements.txt")


@pytest.mark.parametrize("codec", ["utf-16", "utf-8-sig", "utf-32", "utf-8"])
def test_files_are_decoded_as_pip_decodes_them(tmp_path, codec):
    # `pip freeze > requirements.txt` in Windows PowerShell writes UTF-16 with a byte-order mark
    (tmp_path / "requirements.txt").write_bytes("numpy==1.26.4\r\ntabulate==0.9.0\r\n".encode(codec))
    assert [r.text for r in reqfile.read(tmp_path / "requirements.txt").requirements] == ["numpy==1.26.4",
                                                                                        "tabulate==0.9.0"]


def test_a_file_in_no_encoding_pip_reads_is_an_error_naming_it(tmp_path):
    (tmp_path / "requirements.txt").write_bytes(b"numpy==1.26.4 \xff\xfe\xfa\n")
    with pytest.raises(RequirementsError, match=r"requirements.txt is not utf-8 text .* Save it as UTF-8"):
        reqfile.read(tmp_path / "requirements.txt")
