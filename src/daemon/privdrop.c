/* privdrop.c: from root to the configured user, for good. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "privdrop.h"

int
privdrop_lookup(const char *name, uid_t *uid, gid_t *gid, char *err,
    size_t errlen)
{
	struct passwd *pw;
	char *end;
	unsigned long id;

	errno = 0;
	if ((pw = getpwnam(name)) == NULL && name[0] >= '0' && name[0] <= '9') {
		id = strtoul(name, &end, 10);
		if (*end == '\0')
			pw = getpwuid((uid_t)id);
	}
	if (pw == NULL) {
		snprintf(err, errlen, "unknown user '%s'", name);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
privdrop_to(const char *name, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct passwd *pw = getpwuid(uid);

	/* Groups first: once the uid is gone, so is the right to change
	 * them. */
	if (initgroups(pw != NULL ? pw->pw_name : name, gid) != 0 ||
	    setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, errlen, "cannot drop privileges to '%s': %s", name,
		    strerror(errno));
		return -1;
	}
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, errlen, "dropped to '%s', but root could be "
		    "regained: refusing to run", name);
		return -1;
	}
	return 0;
}
