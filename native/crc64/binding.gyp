{
  "targets": [{
    "target_name": "crc64",
    "sources": ["crc64.c"],
    "cflags": ["-O2", "-Wall"],
    "libraries": ["-llzma"]
  }]
}
