"""The package's entry point under another name: the card runs `python predict.py`."""

if __name__ == "__main__":
    print("predictions written")
