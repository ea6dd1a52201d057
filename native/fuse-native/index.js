'use strict';
// fuse-native's Fuse class: upstream's index.js, unchanged, over the addon in binding.js (it loads
// build/Release next to itself, the file binding.js checked).
require('./binding.js');
module.exports = require('./build/source/index.js');
