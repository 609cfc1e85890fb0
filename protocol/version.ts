/** edgefleet's own release, printed by every binary's --version. Keep in step with package.json. */
export const EDGEFLEET_VERSION = "0.1.0";
