"""The store manager's console: self-scanning KPIs, measured loss, audit policy versions."""
