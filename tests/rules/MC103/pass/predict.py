import numpy as np
import onnxruntime as ort

session = ort.InferenceSession("model.onnx")
print(session.run(None, {"input": np.load("test_data/input_0.npy")})[0])
