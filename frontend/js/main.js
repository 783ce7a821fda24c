// Entry point: wire the static page, then start the app (which connects the socket).

import { hydrateIcons } from "./icons.js";
import { initTheme } from "./theme.js";
import { initDrawers } from "./sidebar.js";
import { initComposer } from "./composer.js";
import { initPanels } from "./panels.js";
import { initNotifications } from "./notify.js";
import { initUploads } from "./uploads.js";
import { initTransfer } from "./transfer.js";
import { initUsage } from "./usage.js";
import { composerActions, panelActions, startApp, transferActions, uploadActions } from "./app.js";
import { ensureSignedIn } from "./signin.js";

hydrateIcons();
initTheme();
initDrawers();
initNotifications();
initComposer(composerActions);
initUploads(uploadActions);
initTransfer(transferActions);
initUsage();
initPanels(panelActions);
if (await ensureSignedIn()) startApp();
