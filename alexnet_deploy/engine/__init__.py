"""TensorRT engines: build (one strongly typed path for TensorRT 10 and 11), cache, inspection.

``plan`` (options, flags, builder settings, profile shapes), ``cache`` (key
and reuse) and ``inspection`` (layer precisions from the inspector's JSON) are
pure and run anywhere; ``build``, ``progress`` and ``timing_cache`` make the
TensorRT calls that need a GPU. TensorRT objects live in variables with fixed
names (see ``runtimes/trt_env.py``) so the API conformance test can check every
member used against each supported TensorRT version.
"""
