"""Console strings of recovery after a crash or a dropped line (docs/recovery.md)."""

from __future__ import annotations

ZH: dict[str, str] = {
    "recover.line_dropped": "对方已挂断（通话已中断）。可以补记备注，然后选择访问结果。",
    "recover.completed_elsewhere": "受访者回拨/以其他方式完成（记入审计日志）",
}

EN: dict[str, str] = {
    "recover.line_dropped": (
        "Line dropped (the call has ended). You may finish your notes, then choose the outcome."
    ),
    "recover.completed_elsewhere": "Respondent called back / completed by other means (audited)",
}
