print("kata-agent")
