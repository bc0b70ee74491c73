"""Every message the interviewer console can show: errors by code (``cati.messages``), the banner
when dialling has finished, and the console's own new labels. zh-CN first, English second.

Keys are ``console_errors.<code>``; ``{name}`` fields are the error's parameters (an item is named
by its number, never by its id). The API answers carry the ``code`` alongside the words.
"""

from typing import Final

ZH: Final[dict[str, str]] = {
    # ---- answers (questionnaire engine) ---------------------------------------------------------
    "console_errors.answer.not_an_answer": "{item}：这不是一个有效的回答，请重新输入。",
    "console_errors.answer.unknown_option": "{item}：没有选项 {value}，可选 {options}。",
    "console_errors.answer.not_a_number": "{item}：“{value}”不是数字，请输入数字。",
    "console_errors.answer.not_whole": "{item}：请输入整数（不是 {value}）。",
    "console_errors.answer.out_of_range": "{item}：{value} 超出允许范围 {min}–{max}，请核对后重新输入。",
    "console_errors.answer.needs_text": "{item}：请输入文字。",
    "console_errors.answer.too_long": "{item}：文字超过 {max_length} 个字符，请精简。",
    # ---- interview moves ------------------------------------------------------------------------
    "console_errors.interview.error": "访问数据有误，请重新载入页面。",
    "console_errors.interview.unknown_stratum": "问卷中没有这一类访问对象，请联系督导。",
    "console_errors.interview.no_item": "问卷中没有适用于这一类访问对象的问题，请联系督导。",
    "console_errors.interview.at_first_question": "已经是第一题，不能再返回。",
    "console_errors.interview.action_not_allowed": "访问{state}，不能{action}。",
    "console_errors.interview.not_current_item": "当前问题是{item}，页面显示的不是最新问题，已重新载入。",
    "console_errors.interview.screening_needs_answer": (
        "{item}是甄别题，必须回答，不能拒答或选“不知道”；受访者不愿回答时请结束并编码为拒访。"
    ),
    "console_errors.interview.cannot_resume": "这份访问无法继续（问卷已变更或记录损坏），请联系督导。",
    "console_errors.interview.stale_version": (
        "访问已在其他窗口更新（当前第 {current} 版，本页是第 {sent} 版），已重新载入。"
    ),
    "console_errors.interview.needs_value": "回答需要题目和答案。",
    "console_errors.interview.unknown_action": "未知的操作“{action}”。",
    # ---- seat and call ----------------------------------------------------------------------------
    "console_errors.seat.no_interview": "您手上没有正在进行的访问（当前状态：{status}）。",
    "console_errors.seat.no_call_to_code": "没有需要编码的通话（当前状态：{status}）。",
    "console_errors.seat.no_call_to_hang_up": "没有可以挂断的通话（当前状态：{status}）。",
    "console_errors.seat.not_wrap_up": "当前状态是“{status}”，不在整理时间。",
    "console_errors.seat.press_ready_first": "当前状态是“{status}”，请先按 F2 就绪。",
    "console_errors.seat.move_not_allowed": "当前状态是“{status}”，不能转为“{target}”。",
    "console_errors.seat.unknown_pause_reason": "未知的暂停原因“{reason}”。",
    "console_errors.seat.finish_case_first": "请先完成手上的样本，再更换调查项目。",
    "console_errors.seat.code_call_first": "对方已挂断，这通电话还没有编码：请先选择访问结果。",
    "console_errors.disposition.line_dropped": (
        "对方已挂断：挂断后又保存了 {after} 项回答，不能直接记为完成或部分完成。"
        "如受访者回拨或已通过其他方式完成访问，请勾选“受访者回拨/以其他方式完成”后再提交。"
    ),
    "console_errors.seat.call_being_placed": "正在为您拨打电话，请等待接通或未接通后再操作。",
    "console_errors.preview.not_preview": "调查项目 {campaign} 采用{mode}，电话会自动接入，不需要取号。",
    "console_errors.preview.no_case": "没有正在预览的号码，请先按 N 取下一个号码。",
    "console_errors.preview.already_dialling": "这个号码正在拨打。",
    "console_errors.preview.dialer_unavailable": "电话暂时无法拨出，请稍后再试或联系督导。（{reason}）",
    # ---- campaigns --------------------------------------------------------------------------------
    "console_errors.campaign.not_found": "调查项目 {campaign} 不存在。",
    "console_errors.campaign.not_in_fieldwork": "调查项目 {campaign} 目前{status}，不在实地访问中。",
    "console_errors.campaign.none_in_fieldwork": "目前没有正在实地访问的调查项目，请联系督导。",
    "console_errors.campaign.several_in_fieldwork": "有多个调查项目正在实地访问（{codes}），请选择一个项目。",
    "console_errors.campaign.closed": "调查项目 {campaign} 已结束实地访问，数据已冻结，不能再修改。",
    # ---- dispositions and appointments ------------------------------------------------------------
    "console_errors.disposition.unknown": "未知的通话结果“{code}”。",
    "console_errors.disposition.needs_time": "预约需要填写日期和时间。",
    "console_errors.disposition.takes_no_time": "“{choice}”不需要预约时间。",
    "console_errors.disposition.note_too_long": "备注超过 {max} 个字符，请精简。",
    "console_errors.disposition.not_complete": (
        "按评分规则 {rule}，此问卷不是完成访问（1.1）："
        "{scored} 项须全部评价（现有 {rated} 项）；请按规则选择。"
    ),
    "console_errors.disposition.not_screened_out": "这次访问不是因甄别而结束，请选择其他结果。",
    "console_errors.disposition.partial_needs_screening": "受访者尚未通过甄别，不能算部分完成。",
    "console_errors.disposition.ended_no_appointment": (
        "访问已结束，按评分规则 {rule} 为 {disposition}，不能预约。"
    ),
    "console_errors.disposition.not_partial": (
        "按评分规则 {rule}，评价不足 {partial} 项不算部分完成（1.2），请选“中途中断”。"
    ),
    "console_errors.disposition.no_interview": "这次通话没有进行访问，不能选“{choice}”。",
    "console_errors.disposition.case_not_in_call": "这个样本已不在通话中，不能再编码。",
    "console_errors.appointment.bad_time": "预约时间“{value}”格式不对，请按“2026-11-24 19:30”的格式填写。",
    "console_errors.appointment.in_past": "预约时间 {at}（{timezone}）已经过去，请选择以后的时间。",
    "console_errors.appointment.needs_zone": "预约时间缺少时区。",
    "console_errors.appointment.closes_case": "这个结果会结束样本，不能预约。",
    # ---- dialling finished (the banner; also refusals) --------------------------------------------
    "console_errors.dialling.quotas_full": (
        "调查项目 {campaign} 的全部配额已经完成，拨号已结束，不会再有新的电话。请按 F4 下班，或听从督导安排。"
    ),
    "console_errors.dialling.closed": (
        "调查项目 {campaign} 已结束实地访问，拨号已停止，不会再有新的电话。请按 F4 下班。"
    ),
    "console_errors.dialling.exhausted": (
        "调查项目 {campaign} 已没有可以拨打的号码（样本已用完），拨号已结束。请按 F4 下班，或听从督导安排。"
    ),
    # ---- words used inside the messages -----------------------------------------------------------
    "console_errors.word.action.answer": "回答",
    "console_errors.word.action.refuse": "拒答",
    "console_errors.word.action.dont_know": "选“不知道”",
    "console_errors.word.action.back": "返回上一题",
    "console_errors.word.action.break_off": "中断访问",
    "console_errors.word.action.start": "开始访问",
    "console_errors.word.state.not_started": "尚未开始",
    "console_errors.word.state.asking": "正在进行",
    "console_errors.word.state.completed": "已完成",
    "console_errors.word.state.screened_out": "已因甄别结束",
    "console_errors.word.state.broken_off": "已中断",
    "console_errors.word.campaign.draft": "还在草稿阶段",
    "console_errors.word.campaign.published": "已公告、尚未开始访问",
    "console_errors.word.campaign.fieldwork": "正在实地访问",
    "console_errors.word.campaign.closed": "已结束",
    "console_errors.word.mode.preview": "预览拨号",
    "console_errors.word.mode.progressive": "渐进式自动拨号",
    "console_errors.word.mode.predictive": "预测式自动拨号",
    # ---- console page -----------------------------------------------------------------------------
    "console_errors.ui.finished_title": "拨号已结束",
    "console_errors.ui.invalid_request": "提交的内容不完整或格式不对，请检查后重试。",
    "console_errors.ui.clock": "当地时间",
    "console_errors.ui.timezone": "时区",
    "console_errors.ui.appointment_tz": "按调查项目所在时区填写",
}

EN: Final[dict[str, str]] = {
    "console_errors.answer.not_an_answer": "{item}: that is not an answer; enter it again.",
    "console_errors.answer.unknown_option": "{item}: there is no option {value}; the options are {options}.",
    "console_errors.answer.not_a_number": "{item}: “{value}” is not a number; enter a number.",
    "console_errors.answer.not_whole": "{item}: enter a whole number (not {value}).",
    "console_errors.answer.out_of_range": (
        "{item}: {value} is outside the allowed range {min}–{max}; check and enter it again."
    ),
    "console_errors.answer.needs_text": "{item}: enter some text.",
    "console_errors.answer.too_long": "{item}: the text is longer than {max_length} characters; shorten it.",
    "console_errors.interview.error": "The interview data is not right; reload the page.",
    "console_errors.interview.unknown_stratum": (
        "The questionnaire has no such group of respondents; call your supervisor."
    ),
    "console_errors.interview.no_item": (
        "No question of the questionnaire applies to this group; call your supervisor."
    ),
    "console_errors.interview.at_first_question": (
        "This is the first question: there is nothing to go back to."
    ),
    "console_errors.interview.action_not_allowed": "The interview is {state}: you cannot {action}.",
    "console_errors.interview.not_current_item": (
        "The current question is {item}; this page was out of date and has been reloaded."
    ),
    "console_errors.interview.screening_needs_answer": (
        "{item} is a screening question and needs an answer (no refused or don't know); if the "
        "respondent will not say, end and code the call as a refusal."
    ),
    "console_errors.interview.cannot_resume": (
        "This interview cannot be resumed (the questionnaire changed or the record is damaged); "
        "call your supervisor."
    ),
    "console_errors.interview.stale_version": (
        "The interview changed in another window (now version {current}, this page had {sent}); reloaded."
    ),
    "console_errors.interview.needs_value": "An answer needs the question and a value.",
    "console_errors.interview.unknown_action": "Unknown action “{action}”.",
    "console_errors.seat.no_interview": "You have no interview in hand (your seat: {status}).",
    "console_errors.seat.no_call_to_code": "There is no call to code (your seat: {status}).",
    "console_errors.seat.no_call_to_hang_up": "There is no call to hang up (your seat: {status}).",
    "console_errors.seat.not_wrap_up": "Your seat is “{status}”, not in wrap-up.",
    "console_errors.seat.press_ready_first": "Your seat is “{status}”: press F2 (Ready) first.",
    "console_errors.seat.move_not_allowed": "Your seat is “{status}”: it cannot go to “{target}”.",
    "console_errors.seat.unknown_pause_reason": "Unknown reason for a pause “{reason}”.",
    "console_errors.seat.code_call_first": (
        "The line dropped and this call is not coded yet: choose its outcome first."
    ),
    "console_errors.disposition.line_dropped": (
        "The line dropped: {after} answer(s) were saved after it, so the interview cannot be recorded "
        "as complete or partial. If the respondent called back or completed it by other means, tick "
        "“respondent called back / completed by other means” and submit again."
    ),
    "console_errors.seat.finish_case_first": "Finish the case in hand before changing campaign.",
    "console_errors.seat.call_being_placed": (
        "A call is being placed for you: wait until it is answered or fails."
    ),
    "console_errors.preview.not_preview": "Campaign {campaign} uses {mode}: calls arrive by themselves.",
    "console_errors.preview.no_case": "No number is being previewed: press N for the next number first.",
    "console_errors.preview.already_dialling": "This number is being dialled already.",
    "console_errors.preview.dialer_unavailable": (
        "The call cannot be placed now; try again shortly or call your supervisor. ({reason})"
    ),
    "console_errors.campaign.not_found": "Campaign {campaign} does not exist.",
    "console_errors.campaign.not_in_fieldwork": "Campaign {campaign} is {status}, not in fieldwork.",
    "console_errors.campaign.none_in_fieldwork": "No campaign is in fieldwork; call your supervisor.",
    "console_errors.campaign.several_in_fieldwork": (
        "Several campaigns are in fieldwork ({codes}): choose one."
    ),
    "console_errors.campaign.closed": "Campaign {campaign} is closed: its data is frozen and cannot change.",
    "console_errors.disposition.unknown": "Unknown call outcome “{code}”.",
    "console_errors.disposition.needs_time": "An appointment needs a date and a time.",
    "console_errors.disposition.takes_no_time": "“{choice}” takes no appointment time.",
    "console_errors.disposition.note_too_long": "The note is longer than {max} characters; shorten it.",
    "console_errors.disposition.not_complete": (
        "Not a complete interview (1.1) under scoring rule {rule}: all {scored} must be rated "
        "({rated} are); choose by the rule."
    ),
    "console_errors.disposition.not_screened_out": (
        "Screening did not end this interview: choose another outcome."
    ),
    "console_errors.disposition.partial_needs_screening": (
        "The respondent has not passed screening: not a partial interview."
    ),
    "console_errors.disposition.ended_no_appointment": (
        "The interview has ended and is {disposition} under scoring rule {rule}: no appointment."
    ),
    "console_errors.disposition.not_partial": (
        "Fewer than {partial} rated is not a partial (1.2) under scoring rule {rule}: code it break-off."
    ),
    "console_errors.disposition.no_interview": (
        "No interview was taken on this call: “{choice}” does not fit."
    ),
    "console_errors.disposition.case_not_in_call": "This case is no longer in a call: it cannot be coded.",
    "console_errors.appointment.bad_time": (
        "Appointment time “{value}” is not right: write it like “2026-11-24 19:30”."
    ),
    "console_errors.appointment.in_past": (
        "The appointment time {at} ({timezone}) has passed: choose a later time."
    ),
    "console_errors.appointment.needs_zone": "The appointment time has no time zone.",
    "console_errors.appointment.closes_case": "This outcome closes the case: it cannot take an appointment.",
    "console_errors.dialling.quotas_full": (
        "Every quota of campaign {campaign} is full: dialling has ended and no more calls will come. "
        "Press F4 to end your shift, or wait for your supervisor."
    ),
    "console_errors.dialling.closed": (
        "Campaign {campaign} is closed: dialling has stopped and no more calls will come. "
        "Press F4 to end your shift."
    ),
    "console_errors.dialling.exhausted": (
        "Campaign {campaign} has no number left to call (the sample is used up): dialling has ended. "
        "Press F4 to end your shift, or wait for your supervisor."
    ),
    "console_errors.word.action.answer": "answer",
    "console_errors.word.action.refuse": "record a refusal",
    "console_errors.word.action.dont_know": "record don't know",
    "console_errors.word.action.back": "go back",
    "console_errors.word.action.break_off": "break it off",
    "console_errors.word.action.start": "start it",
    "console_errors.word.state.not_started": "not started",
    "console_errors.word.state.asking": "under way",
    "console_errors.word.state.completed": "completed",
    "console_errors.word.state.screened_out": "screened out",
    "console_errors.word.state.broken_off": "broken off",
    "console_errors.word.campaign.draft": "a draft",
    "console_errors.word.campaign.published": "published, not yet in fieldwork",
    "console_errors.word.campaign.fieldwork": "in fieldwork",
    "console_errors.word.campaign.closed": "closed",
    "console_errors.word.mode.preview": "preview dialling",
    "console_errors.word.mode.progressive": "progressive dialling",
    "console_errors.word.mode.predictive": "predictive dialling",
    "console_errors.ui.finished_title": "Dialling has ended",
    "console_errors.ui.invalid_request": (
        "What was sent is incomplete or not in the right form; check it and try again."
    ),
    "console_errors.ui.clock": "Local time",
    "console_errors.ui.timezone": "Time zone",
    "console_errors.ui.appointment_tz": "in the campaign's time zone",
}
