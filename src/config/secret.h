/*
 * secret.h - obtaining an account's password without ever logging it.
 */
#ifndef YUBIN_SECRET_H
#define YUBIN_SECRET_H

#include <stdbool.h>

#include "account.h"
#include "error.h"

/*
 * Fetch the account's password from its configured source:
 *   password       the value itself;
 *   password_cmd   run with /bin/sh -c, stdin /dev/null, stderr passed
 *                  through; the first line of stdout (without its newline)
 *                  is the secret; a non-zero exit, a signal, no output or
 *                  more than `timeout` seconds is an error;
 *   password_env   the variable's value (unset or empty is an error);
 *   password_file  the first line of the file, which must be owned by us
 *                  and not readable by group or others.
 * On success *out is a malloc'd NUL-terminated string; release it with
 * secret_free(), which wipes it.  Errors are YB_ERR_CONFIG and name the
 * account and the source, never the secret.
 */
int secret_get_password(const struct account *account, char **out,
			struct yb_error *err);

/*
 * --ask-password: for an account that logs in with a password but has no
 * source for it, ask on the controlling terminal (echo off) and keep the
 * answer as the account's password.  No terminal is YB_ERR_CONFIG, never
 * a wait.  An account that needs no prompt is left alone.  A signal while
 * asking restores the terminal first, then takes its course.
 */
int secret_ask_missing(struct account *account, struct yb_error *err);

/*
 * The same for any secret setting of the account (a refresh token, a
 * client secret): the first line a command prints, or of an owner-only
 * file, with password_cmd's and password_file's rules.  key names the
 * setting in messages ("oauth2 refresh_token_cmd").
 */
int secret_from_command(const struct account *account, const char *key,
			const char *command, char **out, struct yb_error *err);
int secret_from_file(const struct account *account, const char *key,
		     const char *path, char **out, struct yb_error *err);

/*
 * What the programs yubin starts are not given.  A password_env variable
 * is read by yubin only: every command it starts (password_cmd, the
 * oauth2 *_cmd commands, an MDA) gets yubin's environment without it.
 * One process may serve several accounts, so the names are those of
 * every account of the config, whichever account the command is for.
 *
 * secret_withhold_variables: add config's password_env names to those
 * withheld (config_load calls it); kept until secret_withhold_clear.
 * YB_ERR_INTERNAL when out of memory.
 */
int secret_withhold_variables(const struct config *config,
			      struct yb_error *err);

/* Is entry ("NAME=value", or a bare NAME) a withheld variable? */
bool secret_env_withheld(const char *entry);

/*
 * The environment for a child: environ without the withheld variables.
 * The array is malloc'd (the caller frees it, not its strings, which are
 * environ's); NULL when out of memory.
 */
char **secret_child_env(void);

/* Forget every withheld name (tests; the end of the process). */
void secret_withhold_clear(void);

/* Wipe and free a secret from secret_get_password(); NULL is fine. */
void secret_free(char *secret);

#endif
