"""xmpp-video: an XMPP server (asyncio) for 1:1 voice and video calls with WebRTC."""

__version__ = "0.1.0"
