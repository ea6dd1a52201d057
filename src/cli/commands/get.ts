import { transferCommand } from '../transferCommand.js';

export default transferCommand('get');
