"""What pyproject.toml cannot say: the built-in tools and the sample hooks travel inside
the package.

The repository keeps them at top level, as the design lays out (``workers/``: one folder
per tool; ``hooks/``: the samples ``mstore init`` installs). A wheel carries them as
``mstore/_shipped/workers/...`` and ``mstore/_shipped/hooks/...``, where
``mstore.shipped`` finds them; a source checkout (``pip install -e .``) uses the
top-level folders themselves.
"""

from setuptools import find_namespace_packages, setup

SHIPPED = {"mstore._shipped.workers": "workers", "mstore._shipped.hooks": "hooks"}


def shipped_packages() -> list[str]:
    """Each shipped folder and its subfolders (a tool's folder) as a data-only package."""
    out = []
    for package, folder in SHIPPED.items():
        out.append(package)
        out += [f"{package}.{sub}" for sub in
                find_namespace_packages(where=folder, exclude=["*__pycache__*"])]
    return out


setup(
    packages=[*find_namespace_packages(include=["mstore", "mstore.*"], exclude=["*__pycache__*"]),
              *shipped_packages()],
    package_dir=SHIPPED,
    package_data={package: ["*"] for package in shipped_packages()},
    exclude_package_data={"": ["*.pyc"]},
)
