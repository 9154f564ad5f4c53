"""fp16 and INT8: conversion, calibration, QDQ layouts and accuracy-guided fallback."""
