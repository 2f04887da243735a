import urllib.request

urllib.request.urlopen("http://127.0.0.1:9/tiles.nc", timeout=10).read()
