# ruff: noqa: E501 (the lines of the template's files are as long as they need to be)
"""A template comparable to copier-uv, written here because CI cannot clone it.

copier-uv (github.com/pawamoy/copier-uv) is the usual yardstick for a Copier
template of a uv-managed Python project; it is published on GitHub, not on PyPI,
and the benchmarks run where only package registries are reachable. So this
module writes a stand-in with the same shape, and `benchmarks/template.py`
times `copier copy` of it beside monocell's in the same run:

- 19 questions, as copier-uv asks them: project, author, repository, copyright
  holder/e-mail/date, a license choice of 6 (full texts for 4, a notice for the
  long ones), distribution/import/command names, insiders (2 questions asked only
  when it is on), public release; computed defaults and validators;
- 47 files, 28 of them rendered by Jinja: pyproject.toml (hatch + uv dev group), a src
  package with a CLI and a debug module, tests, docs for mkdocs (material +
  mkdocstrings, reference page, credits), mkdocs.yml, GitHub CI and release
  workflows, issue templates, config for ruff/mypy/pytest/coverage, a Makefile
  and scripts, CHANGELOG, CONTRIBUTING, CODE_OF_CONDUCT, LICENSE, README;
- a file rendered only on a condition (FUNDING.yml, insiders docs), and a
  post-copy task (a Python script run by copier, like monocell's hook).

copier-uv itself has a few more files (about 55, mostly small static ones) and uses
copier-templates-extensions; both would make it slower, not faster, so the ratio
against this stand-in is the stricter one.
"""

from pathlib import Path

# Answers that differ from the defaults where a condition depends on them.
ANSWERS = {"project_name": "Acme Orders", "author_fullname": "Ada Lovelace", "insiders": "true"}

COPIER_YML = r"""
_subdirectory: project
_templates_suffix: .jinja
_answers_file: .copier-answers.yml
_skip_if_exists: [CHANGELOG.md]
_tasks:
  - command: ["{{ _copier_python }}", "{{ _copier_conf.dst_path }}/scripts/post_copy.py"]
_message_after_copy: |
  Project "{{ project_name }}" created. Run `make setup` to get started.

project_name:
  type: str
  help: Your project name
  validator: "{% if not project_name %}Required{% endif %}"
project_description:
  type: str
  help: Your project description
  default: A Python project.
author_fullname:
  type: str
  help: Your full name
  validator: "{% if not author_fullname %}Required{% endif %}"
author_email:
  type: str
  help: Your email
  default: "{{ author_fullname | lower | replace(' ', '.') }}@example.com"
  validator: "{% if '@' not in author_email %}Expected an e-mail address{% endif %}"
author_username:
  type: str
  help: Your username (e.g. on GitHub)
  default: "{{ author_fullname | lower | replace(' ', '') }}"
repository_provider:
  type: str
  help: Your repository provider
  default: github.com
  choices: [github.com]
repository_namespace:
  type: str
  help: Your repository namespace
  default: "{{ author_username }}"
repository_name:
  type: str
  help: Your repository name
  default: "{{ project_name | lower | replace(' ', '-') }}"
copyright_holder:
  type: str
  help: The name of the person/entity holding the copyright
  default: "{{ author_fullname }}"
copyright_holder_email:
  type: str
  help: The email of the person/entity holding the copyright
  default: "{{ author_email }}"
copyright_date:
  type: str
  help: The copyright date
  default: "{{ '%Y' | strftime }}"
copyright_license:
  type: str
  help: Your project's license
  default: ISC
  choices:
    Academic Free License v3.0: AFL-3.0
    Apache License 2.0: Apache-2.0
    BSD 2-Clause "Simplified" License: BSD-2-Clause
    BSD 3-Clause "New" or "Revised" License: BSD-3-Clause
    ISC License: ISC
    MIT License: MIT
python_package_distribution_name:
  type: str
  help: Your Python package distribution name (for `pip install NAME`)
  default: "{{ project_name | lower | replace(' ', '-') }}"
  validator: >-
    {% if not (python_package_distribution_name | regex_search('^[a-z][a-z0-9-]+$')) %}Expected lowercase letters, digits and dashes{% endif %}
python_package_import_name:
  type: str
  help: Your Python package import name (for `import NAME` in Python code)
  default: "{{ python_package_distribution_name | replace('-', '_') }}"
  validator: >-
    {% if not (python_package_import_name | regex_search('^[a-z][a-z0-9_]+$')) %}Expected a Python identifier{% endif %}
python_package_command_line_name:
  type: str
  help: Your CLI name if any (for use in the shell)
  default: "{{ python_package_distribution_name }}"
insiders:
  type: bool
  help: Does this project have an Insiders version?
  default: false
insiders_repository_name:
  type: str
  help: Your Insiders repository name
  default: "{{ repository_name }}"
  when: "{{ insiders }}"
insiders_email:
  type: str
  help: The email to use for Insiders-related questions
  default: "{{ author_email }}"
  when: "{{ insiders }}"
public_release:
  type: bool
  help: Do you plan to publish your project to PyPI?
  default: true
"""

PKG = "project/src/{{ python_package_import_name }}"

FILES: dict[str, str] = {
    "project/{{ _copier_conf.answers_file }}.jinja": (
        "# Changes here will be overwritten by Copier\n{{ _copier_answers | to_nice_yaml }}"
    ),
    "project/.gitignore": (
        ".idea/\n.vscode/\n__pycache__/\n*.py[cod]\ndist/\n*.egg-info/\nbuild/\nhtmlcov/\n"
        ".coverage*\npip-wheel-metadata/\n.pytest_cache/\n.mypy_cache/\n.ruff_cache/\nsite/\n"
        ".venv/\n.venvs/\n.cache/\n"
    ),
    "project/.envrc": "PATH_add scripts\n",
    "project/README.md.jinja": """# {{ project_name }}

{% if repository_provider == "github.com" -%}
[![ci](https://github.com/{{ repository_namespace }}/{{ repository_name }}/workflows/ci/badge.svg)](https://github.com/{{ repository_namespace }}/{{ repository_name }}/actions?query=workflow%3Aci)
[![documentation](https://img.shields.io/badge/docs-mkdocs-708FCC.svg?style=flat)](https://{{ repository_namespace }}.github.io/{{ repository_name }}/)
{%- endif %}
{% if public_release -%}
[![pypi version](https://img.shields.io/pypi/v/{{ python_package_distribution_name }}.svg)](https://pypi.org/project/{{ python_package_distribution_name }}/)
{%- endif %}

{{ project_description }}

## Installation

```bash
{% if public_release -%}
pip install {{ python_package_distribution_name }}
{%- else -%}
pip install git+https://{{ repository_provider }}/{{ repository_namespace }}/{{ repository_name }}
{%- endif %}
```

With [`uv`](https://docs.astral.sh/uv/):

```bash
uv tool install {{ python_package_distribution_name }}
```
{% if insiders %}
## Insiders

{{ project_name }} follows the **sponsorware** release strategy: new features are first
available to sponsors in [{{ insiders_repository_name }}](https://{{ repository_provider }}/pawamoy-insiders/{{ insiders_repository_name }}).
Questions: {{ insiders_email }}.
{% endif %}
""",
    "project/CHANGELOG.md.jinja": """# Changelog

All notable changes to this project will be documented in this file.

The format is based on [Keep a Changelog](http://keepachangelog.com/en/1.0.0/)
and this project adheres to [Semantic Versioning](http://semver.org/spec/v2.0.0.html).

<!-- insertion marker -->
""",
    "project/CODE_OF_CONDUCT.md.jinja": """# Contributor Covenant Code of Conduct

## Our Pledge

We as members, contributors, and leaders pledge to make participation in our
community a harassment-free experience for everyone, regardless of age, body
size, visible or invisible disability, ethnicity, sex characteristics, gender
identity and expression, level of experience, education, socio-economic status,
nationality, personal appearance, race, caste, color, religion, or sexual
identity and orientation.

## Enforcement

Instances of abusive, harassing, or otherwise unacceptable behavior may be
reported to the community leaders responsible for enforcement at
{{ copyright_holder_email }}. All complaints will be reviewed and investigated
promptly and fairly.

## Attribution

This Code of Conduct is adapted from the [Contributor Covenant](https://www.contributor-covenant.org),
version 2.1.
""",
    "project/CONTRIBUTING.md.jinja": """# Contributing

Contributions are welcome, and they are greatly appreciated!
Every little bit helps, and credit will always be given.

## Environment setup

Fork and clone the repository, then:

```bash
cd {{ repository_name }}
make setup
```

> NOTE: If it fails for some reason, you'll need to install
> [uv](https://github.com/astral-sh/uv) manually.

## Development

1. create a new branch: `git switch -c feature-or-bugfix-name`
1. edit the code and/or the documentation

**Before committing:**

1. run `make format` to auto-format the code
1. run `make check` to check everything (fix any warning)
1. run `make test` to run the tests (fix any issue)
1. if you updated the documentation or the project dependencies:
    1. run `make docs`
    1. go to http://localhost:8000 and check that everything looks good

## Commit message convention

Commit messages must follow our convention based on the
[Angular style](https://gist.github.com/stephenparish/9941e89d80e2bc58a153)
or the [Karma convention](https://karma-runner.github.io/4.0/dev/git-commit-msg.html).
""",
    "project/LICENSE.jinja": """{% if copyright_license == "ISC" -%}
ISC License

Copyright (c) {{ copyright_date }}, {{ copyright_holder }}

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
{%- elif copyright_license == "MIT" -%}
MIT License

Copyright (c) {{ copyright_date }} {{ copyright_holder }}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
{%- elif copyright_license in ["BSD-2-Clause", "BSD-3-Clause"] -%}
Copyright (c) {{ copyright_date }}, {{ copyright_holder }}

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.
2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.
{%- if copyright_license == "BSD-3-Clause" %}
3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.
{%- endif %}

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS".
{%- else -%}
Copyright (c) {{ copyright_date }} {{ copyright_holder }}

Licensed under the {{ copyright_license }} license: see
https://spdx.org/licenses/{{ copyright_license }}.html for its full text.
{%- endif %}
""",
    "project/Makefile": """.DEFAULT_GOAL := help
SHELL := bash
actions = allrun changelog check check-api check-docs check-quality check-types \\
	clean coverage docs docs-deploy format help multirun release run setup test vscode

.PHONY: $(actions)
$(actions):
\t@python scripts/make "$@"
""",
    "project/pyproject.toml.jinja": """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{{ python_package_distribution_name }}"
description = "{{ project_description }}"
authors = [{name = "{{ author_fullname }}", email = "{{ author_email }}"}]
license = "{{ copyright_license }}"
license-files = ["LICENSE"]
readme = "README.md"
requires-python = ">=3.10"
keywords = []
dynamic = ["version"]
classifiers = [
    "Development Status :: 4 - Beta",
    "Intended Audience :: Developers",
    "Programming Language :: Python",
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3 :: Only",
{%- for minor in range(10, 15) %}
    "Programming Language :: Python :: 3.{{ minor }}",
{%- endfor %}
    "Topic :: Software Development",
    "Typing :: Typed",
]
dependencies = []

[project.urls]
Homepage = "https://{{ repository_namespace }}.github.io/{{ repository_name }}"
Documentation = "https://{{ repository_namespace }}.github.io/{{ repository_name }}"
Changelog = "https://{{ repository_namespace }}.github.io/{{ repository_name }}/changelog"
Repository = "https://{{ repository_provider }}/{{ repository_namespace }}/{{ repository_name }}"
Issues = "https://{{ repository_provider }}/{{ repository_namespace }}/{{ repository_name }}/issues"
{%- if insiders %}
Funding = "https://github.com/sponsors/{{ author_username }}"
{%- endif %}
{% if python_package_command_line_name %}
[project.scripts]
{{ python_package_command_line_name }} = "{{ python_package_import_name }}:main"
{% endif %}
[tool.hatch.version]
source = "vcs"

[tool.hatch.build.targets.wheel]
packages = ["src/{{ python_package_import_name }}"]

[dependency-groups]
maintain = ["build>=1.2", "git-changelog>=2.5", "twine>=5.1", "yore>=0.3.3"]
ci = [
    "duty>=1.6",
    "ruff>=0.4",
    "pytest>=8.2",
    "pytest-cov>=5.0",
    "pytest-randomly>=3.15",
    "pytest-xdist>=3.6",
    "mypy>=1.10",
    "types-markdown>=3.6",
    "types-pyyaml>=6.0",
]
docs = [
    "markdown-callouts>=0.4",
    "markdown-exec>=1.8",
    "mkdocs>=1.6",
    "mkdocs-coverage>=1.0",
    "mkdocs-git-revision-date-localized-plugin>=1.2",
    "mkdocs-llmstxt>=0.1",
    "mkdocs-material>=9.5",
    "mkdocs-minify-plugin>=0.8",
    "mkdocstrings[python]>=0.25",
    "tomli>=2.0; python_version < '3.11'",
]

[tool.uv]
default-groups = ["maintain", "ci", "docs"]
""",
    "project/mkdocs.yml.jinja": """site_name: "{{ project_name }}"
site_description: "{{ project_description }}"
site_url: "https://{{ repository_namespace }}.github.io/{{ repository_name }}"
repo_url: "https://{{ repository_provider }}/{{ repository_namespace }}/{{ repository_name }}"
repo_name: "{{ repository_namespace }}/{{ repository_name }}"
site_dir: "site"
watch: [mkdocs.yml, README.md, CONTRIBUTING.md, CHANGELOG.md, src/{{ python_package_import_name }}]
copyright: Copyright &copy; {{ copyright_date }} {{ copyright_holder }}
edit_uri: edit/main/docs/

nav:
- Home:
  - Overview: index.md
  - Changelog: changelog.md
  - Credits: credits.md
  - License: license.md
- API reference: reference/api.md
- Development:
  - Contributing: contributing.md
  - Code of Conduct: code_of_conduct.md
{%- if insiders %}
- Insiders: insiders/index.md
{%- endif %}

theme:
  name: material
  features:
  - content.code.annotate
  - content.code.copy
  - navigation.footer
  - navigation.sections
  - navigation.tabs
  - search.highlight
  palette:
  - media: "(prefers-color-scheme: light)"
    scheme: default
    primary: teal
  - media: "(prefers-color-scheme: dark)"
    scheme: slate
    primary: black

extra_css:
- css/material.css
- css/mkdocstrings.css

markdown_extensions:
- attr_list
- admonition
- footnotes
- pymdownx.details
- pymdownx.superfences
- pymdownx.tabbed:
    alternate_style: true
- toc:
    permalink: "#"

plugins:
- search
- mkdocstrings:
    handlers:
      python:
        inventories:
        - https://docs.python.org/3/objects.inv
        paths: [src]
        options:
          docstring_style: google
          show_source: false
- git-revision-date-localized:
    enabled: !ENV [DEPLOY, false]
- minify:
    minify_html: !ENV [DEPLOY, false]
""",
    "project/docs/index.md": '---\nhide:\n- feedback\n---\n\n--8<-- "README.md"\n',
    "project/docs/changelog.md": '--8<-- "CHANGELOG.md"\n',
    "project/docs/contributing.md": '--8<-- "CONTRIBUTING.md"\n',
    "project/docs/code_of_conduct.md": '--8<-- "CODE_OF_CONDUCT.md"\n',
    "project/docs/license.md": '# License\n\n```\n--8<-- "LICENSE"\n```\n',
    "project/docs/credits.md.jinja": (
        "# Credits\n\n{{ project_name }} is written by {{ author_fullname }} "
        "({{ author_email }}) and its contributors.\n"
    ),
    "project/docs/reference/api.md.jinja": (
        "# API reference\n\n::: {{ python_package_import_name }}\n"
        "    options:\n      show_submodules: true\n"
    ),
    "project/docs/css/material.css": (
        ".md-main__inner > .md-content,\n.md-main__inner > .md-sidebar--secondary {\n"
        "  margin-top: 0.5rem;\n}\n"
    ),
    "project/docs/css/mkdocstrings.css": (
        "div.doc-contents:not(.first) {\n  padding-left: 25px;\n"
        "  border-left: .05rem solid var(--md-typeset-table-color);\n}\n"
    ),
    "project/docs/{% if insiders %}insiders{% endif %}/index.md.jinja": (
        "# Insiders\n\n*This page tells about {{ project_name }} Insiders, "
        "the sponsors' version of {{ insiders_repository_name }}.*\n"
    ),
    "project/.github/{% if insiders %}FUNDING.yml{% endif %}.jinja": (
        "github: {{ author_username }}\npolar: {{ author_username }}\n"
    ),
    "project/.github/ISSUE_TEMPLATE/1-bug.md.jinja": """---
name: Bug report
about: Create a bug report to help us improve.
title: "bug: "
labels: unconfirmed
assignees: [{{ author_username }}]
---

### Description of the bug
<!-- Please provide a clear and concise description of what the bug is. -->

### To Reproduce
<!-- Please provide a Minimal Reproducible Example (MRE) if possible. -->

### Environment information
```bash
python -m {{ python_package_import_name }}._internal.debug
```
""",
    "project/.github/ISSUE_TEMPLATE/2-feature.md.jinja": """---
name: Feature request
about: Suggest an idea for this project.
title: "feature: "
labels: feature
assignees: [{{ author_username }}]
---

### Is your feature request related to a problem? Please describe.

### Describe the solution you'd like
""",
    "project/.github/ISSUE_TEMPLATE/config.yml.jinja": """blank_issues_enabled: false
contact_links:
- name: I have a question / I need help
  url: https://{{ repository_provider }}/{{ repository_namespace }}/{{ repository_name }}/discussions/new?category=q-a
  about: Ask and answer questions in the Discussions tab.
""",
    "project/.github/workflows/ci.yml.jinja": """name: ci

on:
  push:
  pull_request:
    branches:
    - main

defaults:
  run:
    shell: bash

env:
  LANG: en_US.utf-8
  LC_ALL: en_US.utf-8
  PYTHONIOENCODING: UTF-8
  PYTHON_VERSIONS: ""

jobs:
  quality:
    runs-on: ubuntu-latest
    steps:
    - name: Checkout
      uses: actions/checkout@v4
      with:
        fetch-depth: 0
        fetch-tags: true
    - name: Setup Python
      uses: actions/setup-python@v5
      with:
        python-version: "3.12"
    - name: Setup uv
      uses: astral-sh/setup-uv@v5
      with:
        enable-cache: true
        cache-dependency-glob: pyproject.toml
    - name: Install dependencies
      run: make setup
    - name: Check if the documentation builds correctly
      run: make check-docs
    - name: Check the code quality
      run: make check-quality
    - name: Check if the code is correctly typed
      run: make check-types

  tests:
    strategy:
      matrix:
        os: [ubuntu-latest, macos-latest, windows-latest]
        python-version:
{%- for minor in range(10, 15) %}
        - "3.{{ minor }}"
{%- endfor %}
    runs-on: ${{ '{{' }} matrix.os {{ '}}' }}
    steps:
    - name: Checkout
      uses: actions/checkout@v4
    - name: Setup uv
      uses: astral-sh/setup-uv@v5
      with:
        enable-cache: true
    - name: Install dependencies
      env:
        UV_RESOLUTION: lowest-direct
      run: make setup
    - name: Run the test suite
      run: make test
""",
    "project/.github/workflows/release.yml.jinja": """name: release

on: push
permissions:
  contents: write

jobs:
  release:
    runs-on: ubuntu-latest
    if: startsWith(github.ref, 'refs/tags/')
    steps:
    - name: Checkout
      uses: actions/checkout@v4
    - name: Setup uv
      uses: astral-sh/setup-uv@v5
{%- if public_release %}
    - name: Build dists
      run: uv tool run --from build pyproject-build
    - name: Upload dists to PyPI
      run: uv tool run twine upload dist/*
      env:
        TWINE_USERNAME: __token__
        TWINE_PASSWORD: ${{ '{{' }} secrets.PYPI_TOKEN {{ '}}' }}
{%- endif %}
    - name: Prepare release notes
      run: uv tool run git-changelog --release-notes > release-notes.md
    - name: Create release
      uses: softprops/action-gh-release@v2
      with:
        body_path: release-notes.md
""",
    "project/config/ruff.toml": """target-version = "py310"
line-length = 120

[lint]
exclude = ["tests/fixtures/*.py"]
select = ["A", "ANN", "ARG", "B", "BLE", "C4", "COM", "D", "DTZ", "E", "ERA", "EXE", "F",
          "FBT", "G", "I", "ICN", "INP", "ISC", "N", "PGH", "PIE", "PL", "PLC", "PLE", "PLR",
          "PLW", "PT", "PYI", "Q", "RUF", "RSE", "RET", "S", "SIM", "SLF", "T", "T10", "T20",
          "TCH", "TID", "TRY", "UP", "W", "YTT"]
ignore = ["D105", "D107", "FBT001", "FBT002", "TRY003"]

[lint.per-file-ignores]
"src/**/cli.py" = ["T201"]
"scripts/*.py" = ["INP001", "T201"]
"tests/**/*.py" = ["ARG005", "D", "S101"]

[lint.pydocstyle]
convention = "google"

[format]
docstring-code-format = true
""",
    "project/config/mypy.ini": (
        "[mypy]\nignore_missing_imports = true\nexclude = tests/fixtures/\n"
        "warn_unused_ignores = true\nshow_error_codes = true\n"
    ),
    "project/config/pytest.ini": (
        "[pytest]\npython_files =\n  test_*.py\naddopts =\n  --cov\n  --cov-config config/coverage.ini\n"
        "testpaths =\n  tests\n"
    ),
    "project/config/coverage.ini": (
        "[coverage:run]\nbranch = true\nparallel = true\nsource =\n  src/\n  tests/\n\n"
        "[coverage:report]\nprecision = 2\nomit =\n  src/*/__init__.py\n  src/*/__main__.py\n"
    ),
    "project/config/vscode/settings.json.jinja": """{
    "files.watcherExclude": {"**/.venv*/**": true, "**/.venvs*/**": true},
    "python.defaultInterpreterPath": ".venv/bin/python",
    "python.terminal.activateEnvironment": true,
    "python.testing.pytestArgs": ["--config-file=config/pytest.ini"],
    "mypy-type-checker.args": ["--config-file=config/mypy.ini"],
    "ruff.lint.args": ["--config=config/ruff.toml"],
    "python.analysis.extraPaths": ["src/{{ python_package_import_name }}"]
}
""",
    "project/config/vscode/launch.json.jinja": """{
    "version": "0.2.0",
    "configurations": [
        {"name": "python (current file)", "type": "debugpy", "request": "launch",
         "program": "${file}", "console": "integratedTerminal", "justMyCode": false},
        {"name": "run", "type": "debugpy", "request": "launch",
         "module": "{{ python_package_import_name }}", "console": "integratedTerminal"}
    ]
}
""",
    "project/scripts/make": """#!/usr/bin/env python3
\"\"\"Management commands: `make setup`, `make check`, `make test`...\"\"\"

import os
import shutil
import subprocess
import sys


def shell(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True)  # noqa: S602


def main(args: list[str]) -> int:
    if not args or args[0] == "help":
        print("Available commands: setup, check, test, docs, format")
        return 0
    if args[0] == "setup":
        if not shutil.which("uv"):
            raise ValueError("make: setup: uv must be installed, see https://github.com/astral-sh/uv")
        shell("uv sync")
        return 0
    os.execvp("uv", ["uv", "run", "duty", *args])  # noqa: S606
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
""",
    "project/scripts/gen_credits.py.jinja": """\"\"\"Generate the credits page of {{ project_name }}'s documentation.\"\"\"

from importlib.metadata import distributions

PROJECT = "{{ python_package_distribution_name }}"


def credits() -> str:
    names = sorted({dist.metadata["Name"] for dist in distributions()} - {PROJECT})
    return "\\n".join(f"- {name}" for name in names)


print(credits())
""",
    "project/scripts/post_copy.py.jinja": """\"\"\"Run once by copier after a copy: make the scripts executable.\"\"\"

import stat
from pathlib import Path

root = Path(__file__).resolve().parent
for script in (root / "make",):
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
print("{{ project_name }}: scripts ready")
""",
    "project/duties.py.jinja": """\"\"\"Development tasks of {{ project_name }}.\"\"\"

from duty import duty


@duty
def check_quality(ctx):
    \"\"\"Check the code quality.\"\"\"
    ctx.run("ruff check --config=config/ruff.toml src tests scripts", title="Checking code quality")


@duty
def check_types(ctx):
    \"\"\"Check that the code is correctly typed.\"\"\"
    ctx.run("mypy --config-file=config/mypy.ini src/{{ python_package_import_name }}", title="Type-checking")


@duty
def test(ctx, *cli_args: str):
    \"\"\"Run the test suite.\"\"\"
    ctx.run(["pytest", "-c", "config/pytest.ini", "-n", "auto", *cli_args], title="Running tests")
""",
    f"{PKG}/__init__.py.jinja": """\"\"\"{{ project_name }} package.

{{ project_description }}
\"\"\"

from __future__ import annotations

from {{ python_package_import_name }}._internal.cli import get_parser, main

__all__: list[str] = ["get_parser", "main"]
""",
    f"{PKG}/__main__.py.jinja": """\"\"\"Entry-point module, in case you use `python -m {{ python_package_import_name }}`.\"\"\"

import sys

from {{ python_package_import_name }}._internal.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
""",
    f"{PKG}/py.typed": "",
    f"{PKG}/_internal/__init__.py": "",
    f"{PKG}/_internal/cli.py.jinja": """\"\"\"The command-line interface of {{ project_name }}.\"\"\"

from __future__ import annotations

import argparse
import sys
from typing import Any

from {{ python_package_import_name }}._internal import debug


class _DebugInfo(argparse.Action):
    def __init__(self, nargs: int | str | None = 0, **kwargs: Any) -> None:
        super().__init__(nargs=nargs, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002
        debug._print_debug_info()
        sys.exit(0)


def get_parser() -> argparse.ArgumentParser:
    \"\"\"Return the CLI argument parser.\"\"\"
    parser = argparse.ArgumentParser(prog="{{ python_package_command_line_name }}")
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {debug._get_version()}")
    parser.add_argument("--debug-info", action=_DebugInfo, help="Print debug information.")
    return parser


def main(args: list[str] | None = None) -> int:
    \"\"\"Run the main program.\"\"\"
    parser = get_parser()
    opts = parser.parse_args(args=args)
    print(opts)
    return 0
""",
    f"{PKG}/_internal/debug.py.jinja": """\"\"\"Debugging information for bug reports about {{ project_name }}.\"\"\"

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata


@dataclass
class _Environment:
    interpreter_name: str
    interpreter_version: str
    platform: str
    packages: list[tuple[str, str]]
    variables: list[tuple[str, str]]


def _get_version(dist: str = "{{ python_package_distribution_name }}") -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _get_debug_info() -> _Environment:
    py_name, py_version = platform.python_implementation(), platform.python_version()
    variables = [(var, val) for var in ("PYTHONPATH", "{{ python_package_import_name | upper }}_DEBUG")
                 if (val := os.getenv(var))]
    return _Environment(py_name, py_version, platform.platform(),
                        [("{{ python_package_distribution_name }}", _get_version())], variables)


def _print_debug_info() -> None:
    info = _get_debug_info()
    print(f"- __System__: {info.platform}")
    print(f"- __Python__: {info.interpreter_name} {info.interpreter_version} ({sys.executable})")
    for name, value in info.variables:
        print(f"  - `{name}`: `{value}`")
""",
    "project/tests/__init__.py": '"""Tests suite."""\n',
    "project/tests/conftest.py": '"""Configuration for the pytest test suite."""\n',
    "project/tests/test_cli.py.jinja": """\"\"\"Tests for the CLI.\"\"\"

from __future__ import annotations

import pytest

from {{ python_package_import_name }} import main
from {{ python_package_import_name }}._internal import debug


def test_main() -> None:
    assert main([]) == 0


def test_show_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["-h"])
    captured = capsys.readouterr()
    assert "{{ python_package_command_line_name }}" in captured.out


def test_show_debug_info(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--debug-info"])
    assert debug._get_version() in capsys.readouterr().out or True
""",
    "project/tests/test_api.py.jinja": """\"\"\"Tests for our own API exposition.\"\"\"

import {{ python_package_import_name }}


def test_exposed_objects() -> None:
    assert set({{ python_package_import_name }}.__all__) == {"get_parser", "main"}
""",
}


def write(destination: Path) -> None:
    """Write the stand-in template (copier.yml and its `project/` folder) into `destination`."""
    (destination / "copier.yml").write_text(COPIER_YML.lstrip(), encoding="utf-8")
    for name, text in FILES.items():
        path = destination / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
