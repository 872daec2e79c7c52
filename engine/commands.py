"""The facade: the verbs every surface calls (staff pages, customer links, JSON API, CLI, scheduler).

It holds no logic of its own: each verb belongs to one service (engine/services/), all on one kernel, so the
unit of work stays the one commit point. A surface may call `facade.<verb>` or `facade.<service>.<verb>`.
"""
from __future__ import annotations

from . import clock as clock_mod
from .kernel import Kernel, case_start_data
from .script_limits import configure as configure_script_budget
from .services.attachments import AttachmentService
from .services.cases import CHANNELS, CaseService
from .services.contacts import ContactService
from .services.contracts import ContractService
from .services.conversation import ConversationService
from .services.deployments import DeploymentService
from .services.inbound import InboundService
from .services.incidents import IncidentService
from .services.inspections import InspectionService
from .services.kb import KbService
from .services.links import CustomerLinkService
from .services.mailing import NotificationService, OutboxService
from .services.migrations import MigrationService
from .services.people import PeopleService
from .services.portal import PortalService
from .services.procedures import ProcedureService
from .services.reads import ReadService
from .services.records import RecordService
from .services.replay import ReplayService
from .services.reports import ReportService
from .services.sessions import SessionService
from .services.shared_limits import RequestLimitService
from .services.tickets import TicketListService
from .settings import Settings

__all__ = ["CHANNELS", "Aftercare", "case_start_data"]


class Aftercare:
    """One per process: the kernel and its services, with each service's verbs under the facade's name."""

    def __init__(self, settings: Settings, clock: clock_mod.Clock | None = None) -> None:
        self.kernel = kernel = Kernel(settings, clock)
        self.settings, self.clock, self.db, self.runtime = kernel.settings, kernel.clock, kernel.db, kernel.runtime
        self.migrate, self.close, self.run_in_unit = kernel.migrate, kernel.close, kernel.run_in_unit

        self.people = people = PeopleService(kernel)
        self.add_user, self.actor = people.add_user, people.actor
        self.sessions = sessions = SessionService(kernel)  # login, throttling, server-side sessions
        self.authenticate = sessions.authenticate
        self.limits = RequestLimitService(kernel)  # the portal's and /my's request limits, in the database
        self.add_customer, self.list_customers = people.add_customer, people.list_customers

        configure_script_budget(cpu_seconds=settings.script_cpu_seconds)
        self.incidents = incidents = IncidentService(kernel)
        self.list_incidents, self.retry_incident = incidents.list_incidents, incidents.retry_incident
        self.ticket_incident = incidents.ticket_incident

        self.cases = cases = CaseService(kernel)
        self.create_ticket, self.complete_task, self.claim_task = cases.create_ticket, cases.complete_task, \
            cases.claim_task
        self.fire_due_timers, self.ticket_diagram = cases.fire_due_timers, cases.ticket_diagram

        self.reads = reads = ReadService(kernel)
        self.get_ticket, self.list_tasks, self.get_task = reads.get_ticket, reads.list_tasks, reads.get_task
        self.form_choices, self.task_forms, self.task_variables = reads.form_choices, reads.task_forms, \
            reads.task_variables
        self.ticket_for_mail, self.worklist = reads.ticket_for_mail, reads.worklist

        self.links = links = CustomerLinkService(kernel)
        self.open_link, self.complete_by_link = links.open_link, links.complete_by_link

        self.portal = portal = PortalService(kernel)
        self.submit_from_portal, self.status_token = portal.submit_from_portal, portal.status_token
        self.portal_repeat = portal.portal_repeat
        self.ticket_status, self.add_survey_comment = portal.ticket_status, portal.add_survey_comment

        self.outbox = outbox = OutboxService(kernel)
        self.claim_outbox, self.outbox_sent, self.outbox_failed = outbox.claim_outbox, outbox.outbox_sent, \
            outbox.outbox_failed
        self.discard_unsent_mail, self.renew_outbox_lease = outbox.discard_unsent_mail, outbox.renew_outbox_lease
        self.mail_parts = outbox.mail_parts
        self.notifications = notifications = NotificationService(kernel)
        self.notification_preferences, self.set_notification_preferences = \
            notifications.notification_preferences, notifications.set_notification_preferences

        self.conversation = conversation = ConversationService(kernel)
        self.post_message, self.customer_message, self.list_messages = conversation.post_message, \
            conversation.customer_message, conversation.list_messages

        self.attachments = attachments = AttachmentService(kernel)
        self.add_attachment, self.list_attachments, self.get_attachment = attachments.add_attachment, \
            attachments.list_attachments, attachments.get_attachment

        self.contracts = contracts = ContractService(kernel)
        self.save_contract, self.schedule_inspection, self.list_contracts = contracts.save_contract, \
            contracts.schedule_inspection, contracts.list_contracts

        self.inspections = inspections = InspectionService(kernel)
        self.start_due_inspections, self.inspection_report, self.list_inspections = \
            inspections.start_due_inspections, inspections.inspection_report, inspections.list_inspections

        self.reports = reports = ReportService(kernel)
        self.dashboard, self.month_figures, self.monthly_report = reports.dashboard, reports.month_figures, \
            reports.monthly_report
        self.monthly_report_for_ticket, self.list_monthly_reports, self.start_due_reports = \
            reports.monthly_report_for_ticket, reports.list_monthly_reports, reports.start_due_reports

        self.kb = KbService(kernel)  # the knowledge base: facade.kb.<verb>

        self.records = records = RecordService(kernel)
        self.change_form = records.change_form
        self.fault_form = records.fault_form

        self.deployments = deployments = DeploymentService(kernel)
        self.deploy, self.deploy_directory, self.list_processes = deployments.deploy, \
            deployments.deploy_directory, deployments.list_processes
        self.check_files, self.versions, self.version_files = deployments.check, deployments.versions, \
            deployments.version_files
        self.rollback, self.compare_versions, self.current_files = deployments.rollback, deployments.compare, \
            deployments.current_files
        self.form_preview, self.workbench_overview = deployments.form_preview, deployments.overview

        self.migrations = migrations = MigrationService(kernel)
        self.migrate_cases = migrations.migrate_cases

        self.replays = replays = ReplayService(kernel)
        self.replay_sla = replays.replay_sla

        self.procedures = procedures = ProcedureService(kernel)
        self.startable, self.start_procedure = procedures.startable, procedures.start_procedure

        self.inbound = inbound = InboundService(kernel)
        self.receive_mail, self.refuse_mail, self.list_inbound_mail = inbound.receive_mail, inbound.refuse_mail, \
            inbound.list_inbound_mail

        self.contacts = contacts = ContactService(kernel)
        self.find_contacts, self.match_ticket, self.request_sign_in = contacts.list_contacts, \
            contacts.match_ticket, contacts.request_sign_in

        self.tickets = tickets = TicketListService(kernel)
        self.list_tickets, self.export_tickets, self.ticket_by_number = tickets.list_tickets, \
            tickets.export_tickets, tickets.ticket_by_number
