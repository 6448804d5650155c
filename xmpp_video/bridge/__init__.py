"""The JSON bridge (SPEC §5): a JSON client is a session like any other resource, and its
calls are JMI messages and Jingle iqs."""
