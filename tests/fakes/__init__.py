"""Test fakes: loopback upstreams speaking real provider wire formats."""
