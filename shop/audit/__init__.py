"""The audit trail of ops decisions (issue 16, step 3): who decided what, on which object,
when and why.

One model (``AuditEntry``, append-only) and one writer (``services.audit_record``), called
inside the transaction of the decision it records, so a rolled-back decision leaves no entry
and a committed one always has one. Admin actions reach it through ``admin_actions``
(``@audited`` on every action, ``audit_decision`` around each service call); see
docs/operations.md, "Audit trail".
"""
