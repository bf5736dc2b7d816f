"""The notifications domain: pure rules, one module per aggregate."""
