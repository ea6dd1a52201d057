import { transferCommand } from '../transferCommand.js';

export default transferCommand('put');
