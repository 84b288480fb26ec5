"""The Genesis lab: simulated hosts and a Mistral API simulator on one machine."""
