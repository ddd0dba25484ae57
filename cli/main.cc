#include "cli/app.h"

int main(int argc, char** argv) { return qstor::cli::Run(argc, argv); }
