include(CMakePackageConfigHelpers)

get_property(asynchat_layers GLOBAL PROPERTY ASYNCHAT_LAYERS)
install(TARGETS ${asynchat_layers} EXPORT asynchatTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT asynchatTargets NAMESPACE asynchat:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/asynchat)

configure_package_config_file(cmake/asynchatConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/asynchatConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/asynchat)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/asynchatConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/asynchatConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/asynchatConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/asynchat)
