blocks = [bytearray(2**28) for _ in range(8)]  # 2 GiB
print(len(blocks))
