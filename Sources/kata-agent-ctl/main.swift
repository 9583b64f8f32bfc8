print("kata-agent-ctl")
