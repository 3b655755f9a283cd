'use strict';
module.exports = require('./temp-dirs').setup;
