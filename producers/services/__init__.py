"""What the admin CLI and the console both do, one function per action.

Each function takes the App (or a unit of work) and plain values, applies the rules, and
publishes the same commands whichever front end asked. A refusal is a ServiceError whose
message is one line for the person who asked: the CLI prints it, the console shows it on the
form. Nothing here knows about click or HTTP.
"""
