print("osbuilder")
