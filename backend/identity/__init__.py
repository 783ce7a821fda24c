"""Who is calling: API keys, passwords, signed login tokens, principals and the auth policy.

Pure functions and small value types only; storage of users, keys and audit rows lives in
``backend/store``, their management in ``backend/sessions/accounts.py``.
"""
