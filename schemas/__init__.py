"""Pydantic models and the error tree shared by REST, WebSocket, jobs and the database.

This package is the one source of truth for wire and storage shapes; every other package
imports from it and it imports from none of them.
"""
