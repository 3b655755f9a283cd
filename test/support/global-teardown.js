'use strict';
module.exports = require('./temp-dirs').teardown;
