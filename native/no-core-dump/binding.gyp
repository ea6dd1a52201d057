{
  "targets": [{
    "target_name": "no_core_dump",
    "sources": ["no_core_dump.c"],
    "cflags": ["-O2", "-Wall"]
  }]
}
