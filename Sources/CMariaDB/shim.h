#ifndef FERRY_CMARIADB_SHIM_H
#define FERRY_CMARIADB_SHIM_H
/* MariaDB Connector/C (Debian libmariadb-dev). */
#include <mysql.h>
#endif
