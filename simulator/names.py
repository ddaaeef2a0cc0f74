"""Word pools for generated agencies. Some names are non-ASCII or carry apostrophes on
purpose, so importers meet real-world text (UTF-8, quoting) in tests."""

from __future__ import annotations

FIRST_NAMES = (
    "Alice", "Ben", "Chloé", "Dmitri", "Elena", "Farah", "Gabriel", "Hana", "Ivan", "Jasmine",
    "Kofi", "Lena", "Mateo", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Søren", "Tariq",
    "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoë", "Aaron", "Bianca", "Carlos", "Daria",
    "Emeka", "Fiona", "George", "Helga", "Isaac", "José", "Keiko", "Liam", "Małgorzata", "Noah",
    "Olivia", "Pedro", "Ravi", "Sofia", "Tomás", "Ursula", "Valentina", "William", "Yara", "Zane",
)

LAST_NAMES = (
    "Anderson", "Brown", "Chen", "Dubois", "Eriksen", "Fernández", "García", "Hughes", "Ito",
    "Johansson", "Kowalski", "López", "Müller", "Nakamura", "O'Brien", "Patel", "Quinn", "Rossi",
    "Schmidt", "Tanaka", "Usman", "Varga", "Williams", "Xu", "Yilmaz", "Zhang", "Okafor", "Novak",
    "Moreau", "Lindqvist", "Kim", "Jensen", "Ibrahim", "Horvat", "Gómez", "Fischer", "Evans",
    "Dias", "Costa", "Bianchi",
)

# Harvest / Rails time-zone names (not IANA ids), reference §8.
TIMEZONES = (
    "Eastern Time (US & Canada)",
    "Eastern Time (US & Canada)",
    "Central Time (US & Canada)",
    "Mountain Time (US & Canada)",
    "Pacific Time (US & Canada)",
    "London",
    "London",
    "Berlin",
    "Paris",
    "Amsterdam",
    "Kyiv",
    "Warsaw",
    "Madrid",
    "Sydney",
    "Tokyo",
    "UTC",
)

ROLE_NAMES = (
    "Designer",
    "Senior Developer",
    "Developer",
    "Project Manager",
    "QA Engineer",
    "Account Manager",
    "Art Director",
    "Copywriter",
    "DevOps Engineer",
    "Data Analyst",
    "Strategist",
    "UX Researcher",
    "Producer",
    "Intern",
)

# Case/space variants of real role names, as people type them into Harvest.
ROLE_VARIANTS = {
    "Senior Developer": " senior developer",
    "Designer": "Designer ",
    "QA Engineer": "QA engineer",
    "Project Manager": "project manager",
}

CLIENT_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
    "Cyberdyne", "Tyrell", "Wonka", "Gringotts", "Monarch", "Aperture", "Massive Dynamic",
    "Oceanic", "Pied Piper", "Nakatomi", "Dunder Mifflin", "Bluth", "Prestige", "Sterling",
    "Nordlicht", "Café Olé", "Blåbær", "Zenith", "Halcyon", "Kestrel", "Lumen",
)
CLIENT_SUFFIXES = ("Inc.", "LLC", "GmbH", "Ltd", "Group", "S.A.", "& Co.", "AB", "")

PROJECT_WORDS = (
    "Website Redesign", "Mobile App", "Brand Refresh", "SEO Audit", "Data Platform",
    "Marketing Campaign", "E-commerce Launch", "Design System", "Support Retainer",
    "API Integration", "Analytics Dashboard", "Content Strategy", "Cloud Migration",
    "Onboarding Flow", "Annual Report", "Product Discovery", "Accessibility Review",
)

TASK_NAMES = (
    "Design",
    "Programming",
    "Project Management",
    "Meetings",
    "Research",
    "Quality Assurance",
    "Copywriting",
    "Business Development",
    "Marketing",
    "Support",
    "DevOps",
    "Training",
)
# Tasks that agencies usually do not bill.
NON_BILLABLE_TASKS = frozenset({"Business Development", "Meetings", "Training"})

COMPANY_WORDS = ("Northwind", "Bright Pixel", "Bluefin", "Copper Fox", "Hexagon", "Tallbird")

NOTES = (
    None,
    None,
    "",
    "Standup and planning",
    "Client call",
    "Code review",
    "Fixed login bug",
    "Wireframes for checkout",
    "Sprint retrospective",
    "Deployment to staging",
    "Research: competitor analysis",
    "Copy edits — homepage",
    "Meeting with José about the roadmap",
    "Refactoring the billing module",
    "QA pass on release 2.3",
    "Workshop prep\nand follow-up notes",
    "Email & Slack triage",
    'Reviewed "final" designs',
    "Café meeting with the client",
    "Migrated DNS records",
    "Weekly report",
    "Onboarding new team member",
)

# Decimal hours as people log them (2 places, like 0.33 for 20 minutes).
HOURS = (0.25, 0.33, 0.5, 0.5, 0.75, 1.0, 1.0, 1.25, 1.5, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5,
         4.0, 4.0, 4.5, 5.0, 6.0, 7.5, 8.0)

HOURLY_RATES = (75.0, 90.0, 100.0, 110.0, 125.0, 150.0, 175.0, 200.0)
COST_RATES = (35.0, 40.0, 45.0, 50.0, 60.0, 72.5, 80.0)
CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP", "CAD", "AUD")

EXTERNAL_SERVICES = (
    ("github.com", "https://github.com/acme/app/issues/{n}", "GitHub"),
    ("trello.com", "https://trello.com/c/{n}", "Trello"),
    ("atlassian.net", "https://acme.atlassian.net/browse/WEB-{n}", "Jira"),
)
