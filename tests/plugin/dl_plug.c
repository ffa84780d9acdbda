/* A library found by name, built once per directory with its own tag (t51_dlopen.sh):
 * which copy the dynamic linker chose is what dl_plug_tag() says. */
const char *dl_plug_tag(void) { return DL_TAG; }
