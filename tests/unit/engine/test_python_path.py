"""spark-submit's pyspark and py4j zips give way to the installed packages only when they are
the installed pyspark's own (``SPARK_HOME`` is the pip package)."""

from __future__ import annotations

from pathlib import Path

from kyuubi_py.engine.spark.python_path import without_bundled_zips

PY4J = "0.10.9.9"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _pip_install(site: Path, py4j_version: str = PY4J) -> tuple[str, str]:
    """A site-packages with pyspark (its zips inside) and py4j ``py4j_version``."""
    _touch(site / "pyspark" / "__init__.py")
    _touch(site / "py4j" / "__init__.py")
    (site / f"py4j-{py4j_version}.dist-info").mkdir()
    lib = site / "pyspark" / "python" / "lib"
    return str(_touch(lib / "pyspark.zip")), str(_touch(lib / f"py4j-{PY4J}-src.zip"))


def test_zips_of_the_installed_pyspark_are_dropped(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    pyspark_zip, py4j_zip = _pip_install(site)
    path = ["/app", pyspark_zip, py4j_zip, "/usr/lib/python311.zip", str(site)]
    assert without_bundled_zips(path) == ["/app", "/usr/lib/python311.zip", str(site)]


def test_py4j_zip_stays_when_another_py4j_is_installed(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    pyspark_zip, py4j_zip = _pip_install(site, py4j_version="0.10.9.7")
    path = [pyspark_zip, py4j_zip, str(site)]
    assert without_bundled_zips(path) == [py4j_zip, str(site)]


def test_zips_of_a_spark_distribution_stay(tmp_path: Path) -> None:
    """A cluster's SPARK_HOME: its Python side must match its own JVM side, whatever pip has."""
    site = tmp_path / "site-packages"
    _pip_install(site)
    lib = tmp_path / "opt" / "spark" / "python" / "lib"
    dist_zips = [str(_touch(lib / "pyspark.zip")), str(_touch(lib / f"py4j-{PY4J}-src.zip"))]
    path = [*dist_zips, str(site)]
    assert without_bundled_zips(path) == path


def test_zips_stay_when_their_package_is_not_importable(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    pyspark_zip, py4j_zip = _pip_install(site)
    path = ["/app", pyspark_zip, py4j_zip]  # site-packages not on the path
    assert without_bundled_zips(path) == path
