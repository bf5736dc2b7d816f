"""Writing an e-mail for one person, and sending it over SMTP."""
