from setuptools import setup

setup(name='tinylib', version='0.1')
