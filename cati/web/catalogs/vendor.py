"""Strings about the vendored front-end assets (shown in page footers)."""

from typing import Final

ZH: Final[dict[str, str]] = {"vendor.charts": "图表：Apache ECharts（本地提供，不依赖外网）"}
EN: Final[dict[str, str]] = {"vendor.charts": "Charts: Apache ECharts (served locally, no internet needed)"}
