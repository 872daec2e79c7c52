"""A month of service history for the demo: last month's tickets replayed through the real procedures on a
clock that moves through the month, so a new user's dashboard, ticket list and monthly service report
(月度服务报告) have something to show. Every step is a facade verb, as staff and customers take it; customers'
steps are taken on their behalf by the service desk (a phone call), as the procedures allow."""
from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.calendar import get_calendar
from engine.clock import FakeClock
from engine.commands import Aftercare
from engine.settings import Settings
from engine.users import Actor

log = logging.getLogger("aftercare.demo")
SHANGHAI = ZoneInfo("Asia/Shanghai")
ADMIN = Actor("admin", "admin")


@dataclass
class Story:
    """One ticket's life: when it arrives (working day of the month, hour), what it is, and how it goes."""

    day: int
    hour: int
    customer: str
    title: str
    description: str
    category: str = "fault"
    severity: int = 3
    respond_after: float = 0.5  # hours after triage
    resolve_after: float = 3.0  # hours after the response
    fault_type: str = "other"
    module: str = ""
    root_cause: str = ""
    rejected: str = ""  # the customer's reason to reject the first fix
    survey: int = 5
    satisfaction: int = 5
    recurred: bool = False
    open: bool = False  # left in progress at the month's end
    extra: dict[str, Any] = field(default_factory=dict)


STORIES = (
    Story(1, 9, "青山医院", "系统无法登录", "早上 8 点起所有科室登录时报 500 错误", severity=1,
          respond_after=0.2, resolve_after=1.5, fault_type="login", module="统一认证", root_cause="数据库连接池耗尽"),
    Story(2, 14, "Demo Customer", "门诊收费日报数据与收费处不一致", "11 月 3 日日报少了 12 笔", severity=2,
          resolve_after=30, fault_type="data", module="门诊收费", root_cause="跨零点的交易被计入次日",
          satisfaction=3, survey=3),
    Story(3, 10, "华东电网信息中心", "如何导出月度统计表", "需要把月度统计导出为 Excel", category="question"),
    Story(4, 15, "青山医院", "住院结算页面打开很慢", "高峰期打开结算页要 20 秒", respond_after=1,
          resolve_after=5, fault_type="performance", module="住院结算", root_cause="缺少索引，全表扫描",
          rejected="高峰期仍然要 10 秒"),
    Story(6, 11, "华东电网信息中心", "HIS 与 LIS 接口同步失败", "检验结果两小时没有回传", severity=2,
          respond_after=3, resolve_after=6, fault_type="interface", module="LIS 接口", root_cause="对端证书过期"),
    Story(7, 16, "Demo Customer", "处方打印模板错位", "处方右侧内容被截断", respond_after=6, resolve_after=4,
          fault_type="ui", module="处方打印", root_cause="打印机驱动更新后页边距变化"),
    Story(9, 9, "青山医院", "登录后菜单权限丢失", "护士站登录后看不到医嘱菜单", fault_type="login",
          module="统一认证", root_cause="角色同步任务失败", recurred=True, satisfaction=2, survey=3),
    Story(11, 10, "Demo Customer", "报表中心导出为空", "导出科室工作量报表只有表头", resolve_after=8,
          fault_type="report", module="报表中心", root_cause="查询条件的日期格式错误"),
    Story(13, 14, "华东电网信息中心", "备份作业失败告警", "夜间备份连续两天失败", severity=2, respond_after=0.5,
          resolve_after=3, fault_type="environment", module="备份", root_cause="备份盘空间不足"),
    Story(15, 9, "青山医院", "挂号系统偶发卡死", "每天上午 10 点左右卡 1-2 分钟", severity=2, respond_after=0.5,
          resolve_after=40, fault_type="performance", module="挂号", root_cause="定时任务与高峰重叠"),
    Story(17, 15, "Demo Customer", "怎样修改打印份数", "收费票据要打两份", category="question"),
    Story(19, 10, "Demo Customer", "医保结算返回超时", "医保中心接口偶发超时", severity=2, fault_type="interface",
          module="医保接口", open=True),
    Story(20, 16, "青山医院", "检查预约页面报错", "点击预约时报空指针", fault_type="ui", module="检查预约",
          open=True),
)


def load_demo_history(settings: Settings, now: datetime) -> int:
    """Replay last month's stories when the desk has no ticket yet; the number of tickets made. The stories run
    side by side: each is a generator that yields when its next step is due, and the clock moves to the earliest."""
    today = now.astimezone(SHANGHAI).date()
    this_month = today.replace(day=1)
    first = (this_month - timedelta(days=1)).replace(day=1)
    clock = FakeClock(datetime.combine(first, time(0), SHANGHAI))
    facade = Aftercare(settings, clock)
    try:
        if facade.list_tickets(query=facade.tickets.parse_query(params={"per_page": "1"})[0], actor=ADMIN).total:
            return 0
        calendar = get_calendar("working")
        days = [d for d in (first + timedelta(days=n) for n in range((this_month - first).days))
                if calendar.is_workday(d)]  # type: ignore[attr-defined]
        queue: list[tuple[datetime, int, Iterator[datetime]]] = []
        for index, story in enumerate(STORIES):
            if story.day <= len(days):
                start = datetime.combine(days[story.day - 1], time(story.hour), SHANGHAI)
                heapq.heappush(queue, (start, index, _play(facade, story)))
        made = len([entry for entry in queue if entry[0] < now])
        while queue:
            moment, index, story_steps = heapq.heappop(queue)
            if moment >= now:
                continue
            clock.set(max(moment, clock.now()))
            facade.fire_due_timers()
            following = next(story_steps, None)
            if following is not None:
                heapq.heappush(queue, (following, index, story_steps))
        facade.discard_unsent_mail(before=now)
        return made
    finally:
        facade.close()


def _play(facade: Aftercare, story: Story) -> Iterator[datetime]:
    """The story's steps; after each it yields when the next is due."""
    clock = facade.clock
    tid = 0

    def step(name: str, data: dict[str, Any], role: str | None = None) -> None:
        tasks = facade.list_tasks(actor=ADMIN, ticket_id=tid)
        task = next((t for t in tasks if t["name"] == name), None)
        if task is None:
            raise RuntimeError(f"demo story {story.title!r}: no open step {name!r} "
                               f"(open: {', '.join(t['name'] for t in tasks) or 'none'})")
        actor = Actor(role or task["role"], role or task["role"])
        facade.complete_task(task_id=task["id"], data=data, actor=actor)

    def later(**delta: float) -> datetime:
        return clock.now() + timedelta(**delta)

    created = facade.create_ticket(customer=story.customer, contact_name="信息科 李工", channel="phone",
                                   contact_email=f"li@{_domain(story.customer)}", title=story.title,
                                   description=story.description, actor=Actor("service_desk", "service_desk"))
    tid = int(created["id"])
    yield later(minutes=8)
    if story.category == "question":
        step("triage", {"category": "question"})
        yield later(hours=2)
        step("answer_question", {"answer": "在报表菜单中选择导出，或在打印设置中修改份数。"})
    else:
        step("triage", {"category": "fault", "severity": story.severity, "onsite": False})
        yield later(hours=story.respond_after)
        who = "expert" if story.severity == 1 else "engineer"  # severity 1 goes straight to the experts
        step(f"{who}_response", {"contact_made": True, "diagnosis": story.root_cause or "排查中"})
        if story.open:  # the engineer holds it, so the dashboard shows their workload
            for task in facade.list_tasks(actor=ADMIN, ticket_id=tid):
                facade.claim_task(task_id=task["id"], actor=Actor(task["role"], task["role"]))
            return
        yield later(hours=story.resolve_after)
        resolution = {"resolution": f"已处理：{story.root_cause}", "root_cause": story.root_cause,
                      "fault_type": story.fault_type, "module": story.module,
                      **({"preventive_action": "增加监控告警"} if who == "expert" else {"outcome": "resolved"})}
        step(f"{who}_resolution", resolution)
        if story.rejected:
            yield later(hours=20)
            step("customer_acceptance", {"accepted": False, "reason": story.rejected}, role="service_desk")
            yield later(hours=3)
            step(f"{who}_resolution", {**resolution, "resolution": "增加索引并调整查询"})
    yield later(hours=4)
    step("customer_acceptance", {"accepted": True}, role="service_desk")
    yield later(hours=2)
    step("satisfaction_survey", {"score": story.survey}, role="service_desk")
    yield later(hours=20)
    step("callback", {"recurred": story.recurred, "satisfaction": story.satisfaction,
                      "comment": "问题又出现了" if story.recurred else "满意"})


def _domain(customer: str) -> str:
    return {"Demo Customer": "demo-customer.example", "华东电网信息中心": "east-grid.example",
            "青山医院": "qingshan-hospital.example"}.get(customer, "example.com")
