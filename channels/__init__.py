"""The edges: parse inbound requests into Messages, render ReplyEvent streams back to each platform."""
