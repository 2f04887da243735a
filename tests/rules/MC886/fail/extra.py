print("not signed")
