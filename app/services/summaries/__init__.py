"""Meeting summaries of stored transcripts by an OpenAI-compatible chat endpoint."""
