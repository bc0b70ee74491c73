"""The terminal words of ``cati demo`` (``cati/cli/demo.py``, ``cati/demo/run.py``): zh-CN first,
English with ``--lang en``. ``{name}`` fields are filled by the caller."""

from typing import Final

ZH: Final[dict[str, str]] = {
    "cli_demo.title": "群众满意度电话调查演示 · CATI demo",
    "cli_demo.address": "网址",
    "cli_demo.data": "数据",
    "cli_demo.campaign": "调查项目",
    "cli_demo.campaign_line": "{code}（编号 {id}）正在实地访问，{quota}；",
    "cli_demo.quota_each": "每个区县、每类对象各需完成 {quota} 份",
    "cli_demo.quota_campaign": "按调查项目自己的配额",
    "cli_demo.windows": "演示用的访问时段：两类对象每天 08:00-22:00",
    "cli_demo.telephony": "电话",
    "cli_demo.builtin_pbx": "内置模拟交换机",
    "cli_demo.clock": "；服务时钟 {speed} 倍速",
    "cli_demo.clock_from": "，从上海时间 {start} 起",
    "cli_demo.crew": "模拟访问员",
    "cli_demo.crew_none": "无",
    "cli_demo.logins": "登录账号（每次启动都换新密码{file}）：",
    "cli_demo.logins_file": "；另存于 {file}",
    "cli_demo.hint.iv00": "您本人：打开 {url}/console 登录，按 F2 就绪，接听下一通电话",
    "cli_demo.hint.supervisor": "督导：管理实地访问，督导室 {url}/supervise",
    "cli_demo.hint.assessor": "考核办：调查结果与数据下载 {url}/campaigns/{id}/results",
    "cli_demo.hint.witness": "公证处见证：只读，不含个人信息 {url}/witness；结束后签字",
    "cli_demo.hint.jiwei": "市纪委监察局见证：同上，结束后在 {url}/campaigns/{id}/announcement 签字",
    "cli_demo.hint.kaohe": "市考核办见证：同上，结束后在结果公布页签字",
    "cli_demo.hint.admin": "系统管理员：用户、调查项目，全部功能",
    "cli_demo.simulated": "（模拟）",
    "cli_demo.simulated_hint": "与浏览器用同一套接口工作",
    "cli_demo.results_title": "结果（先在 {url}/login 以考核办、督导或管理员身份登录）：",
    "cli_demo.results_json": "各区县得分、AAPOR 应答率、样本计数（JSON）",
    "cli_demo.results_page": "结果页：表格、图表、下载",
    "cli_demo.results_csv": "问卷数据，每份一行（Excel 可直接打开；结束后提供）",
    "cli_demo.second_shell": (
        "各区县得分封存至调查结束（cati campaign close {code} --reason ...）。"
        "结束后，在另一个终端中（同一个数据目录）："
    ),
    "cli_demo.progress_note": "每隔几秒显示一次进度。按 Ctrl-C 停止。",
    "cli_demo.imported": "已导入调查项目 {code}（{districts} 个区县）",
    "cli_demo.closed": "{dir} 中的调查项目 {code} 已结束：请用另一个 --data-dir 启动演示",
    "cli_demo.not_started": "服务没有在 {host}:{port} 上启动",
    "cli_demo.port_busy": "无法监听 {host}:{port}：{why}（请换一个 --port）",
    "cli_demo.serving": "服务已启动：{url}/ · 模拟访问员开始工作",
    "cli_demo.progress": (
        "[服务时间 {time}] 完成 {completes}/{target}，已拨打 {attempts} 次，"
        "正在访问 {on_call} 个，未满配额 {cells_open} 个"
    ),
    "cli_demo.done": "全部配额已完成：{completes}/{target} 份问卷，共拨打 {attempts} 次。电话访问到此结束。",
    "cli_demo.next": "接下来：",
    "cli_demo.next.supervise": "督导室（实时进度与控制）",
    "cli_demo.next.witness": "监督见证室（公证处、纪委）",
    "cli_demo.next.results": "调查结果（考核办）",
    "cli_demo.next.announcement": "结果公告与签字（结束实地访问后）",
    "cli_demo.next.close": "结束实地访问、封存结果（在另一个终端中）：",
    "cli_demo.close_reason": "配额已满",
    "cli_demo.stopping": "全部配额已完成，演示按 --exit-when-done 停止。",
    "cli_demo.stopped": "已停止",
    "cli_demo.stopped_stats": "已停止。模拟通话 {calls} 次；结果：{outcomes}",
    "cli_demo.none": "无",
}

EN: Final[dict[str, str]] = {
    "cli_demo.title": "CATI demo · public-satisfaction telephone survey",
    "cli_demo.address": "address",
    "cli_demo.data": "data",
    "cli_demo.campaign": "campaign",
    "cli_demo.campaign_line": "{code} (id {id}) in fieldwork, {quota};",
    "cli_demo.quota_each": "{quota} completes per district and stratum",
    "cli_demo.quota_campaign": "the campaign's quota",
    "cli_demo.windows": "demo calling windows 08:00-22:00 every day for both strata",
    "cli_demo.telephony": "telephony",
    "cli_demo.builtin_pbx": "built-in simulated PBX",
    "cli_demo.clock": "; service clock {speed}x",
    "cli_demo.clock_from": " from {start} Shanghai",
    "cli_demo.crew": "simulated interviewers",
    "cli_demo.crew_none": "none",
    "cli_demo.logins": "Logins (new passwords on every start{file}):",
    "cli_demo.logins_file": "; also in {file}",
    "cli_demo.hint.iv00": "you: open {url}/console, sign in, press Ready and take the next call",
    "cli_demo.hint.supervisor": "runs fieldwork; the supervisor room {url}/supervise",
    "cli_demo.hint.assessor": "the assessment office: results and downloads {url}/campaigns/{id}/results",
    "cli_demo.hint.witness": "the notary: watches read-only, no personal data {url}/witness; signs at close",
    "cli_demo.hint.jiwei": "discipline inspection: the same; signs at {url}/campaigns/{id}/announcement",
    "cli_demo.hint.kaohe": "assessment office's witness: the same; signs the announcement",
    "cli_demo.hint.admin": "everything: users, campaigns",
    "cli_demo.simulated": "(simulated)",
    "cli_demo.simulated_hint": "working through the same API as the browser",
    "cli_demo.results_title": "Results (sign in as assessor, supervisor or admin at {url}/login first):",
    "cli_demo.results_json": "scores, AAPOR rates, counts (JSON)",
    "cli_demo.results_page": "results page: table, charts, downloads",
    "cli_demo.results_csv": "one row per questionnaire (Excel-ready, after close)",
    "cli_demo.second_shell": (
        "District scores stay sealed until close (cati campaign close {code} --reason ...). "
        "After close, from a second shell, with the same data directory:"
    ),
    "cli_demo.progress_note": "Progress is printed every few seconds. Ctrl-C stops.",
    "cli_demo.imported": "imported campaign {code} ({districts} districts)",
    "cli_demo.closed": "campaign {code} in {dir} is closed: start the demo with another --data-dir",
    "cli_demo.not_started": "the server did not start on {host}:{port}",
    "cli_demo.port_busy": "cannot listen on {host}:{port}: {why} (choose another --port)",
    "cli_demo.serving": "serving on {url}/ · simulated interviewers at work",
    "cli_demo.progress": (
        "[{time} service time] completes {completes}/{target}, calls {attempts}, "
        "interviews under way {on_call}, quota cells open {cells_open}"
    ),
    "cli_demo.done": (
        "Every quota cell is full: {completes}/{target} questionnaires, {attempts} calls. "
        "The telephone fieldwork is done."
    ),
    "cli_demo.next": "What comes next:",
    "cli_demo.next.supervise": "supervisor room (live progress, controls)",
    "cli_demo.next.witness": "witness room (notary, inspection office)",
    "cli_demo.next.results": "results (assessment office)",
    "cli_demo.next.announcement": "announcement and sign-off (after the close)",
    "cli_demo.next.close": "close fieldwork and seal the results (from a second shell):",
    "cli_demo.close_reason": "quotas full",
    "cli_demo.stopping": "Every quota cell is full: the demo stops (--exit-when-done).",
    "cli_demo.stopped": "stopped",
    "cli_demo.stopped_stats": "stopped. simulated calls {calls}; outcomes: {outcomes}",
    "cli_demo.none": "none",
}
